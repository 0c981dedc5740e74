
import graphdsl


def test_seed_forward_and_gradients(linear_path):
    m = graphdsl.load(linear_path)
    assert m.forward() == {"w": 3.0, "b": 4.0, "x": 18.0, "y": 9.0, "z": 162.0}
    assert m.gradients() == {"w": 18.0, "b": 63.0, "x": 9.0, "y": 18.0, "z": 1.0}


def test_cli_run_target(cli, linear_path):
    r = cli("run", linear_path, "--target", "150", "--params", "b")
    assert r.code == 0, r.err
    assert "0.1904762" in r.out  # Δb = 12/63, the seed's first step
