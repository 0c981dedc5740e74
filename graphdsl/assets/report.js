(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("graphdsl-data").textContent);
  var n = data.panels.length;
  if (!n) return;
  // the rows: a run's iterations, or a fit's epochs (data.unit), each with its number
  var unit = data.unit || "iteration";
  var its = data.trace.iterations || data.trace.epochs;
  function num(i) { return its[i][unit]; }
  var cur = 0;
  var $ = function (id) { return document.getElementById(id); };
  var frame = $("frame"), panel = $("panel"), explain = $("explain"), explainBox = $("explain-box"),
      slider = $("slider"), where = $("where"), live = $("live");
  var rows = document.querySelectorAll("#iters tbody tr");
  var wrap = document.querySelector(".table-wrap");
  var words = data.words;
  // forward mode: one text per param at each iteration; the select picks the param
  var fwd = $("forward"), fwdSel = $("fwd-param");
  function showForward() {
    var texts = data.forward && data.forward[cur];
    fwd.textContent = (texts && texts[+fwdSel.value]) || "";
  }
  if (fwdSel) fwdSel.addEventListener("change", showForward);
  var NOFRAME = document.createElement("p");
  NOFRAME.className = "noframe"; NOFRAME.textContent = words.noframe;
  NOFRAME = NOFRAME.outerHTML;
  var lastNo = num(n - 1);
  function say(text, i) { return text.replace("{i}", num(i)).replace("{n}", lastNo); }
  function label(i) { return say(words.of, i); }

  // The plots carry one ring per iteration and panel (matplotlib gids
  // "gdmark-e-K" on the error plot, "gdmark-c-K" on the curve; for a fit "gdmark-l-K"
  // on the loss, and the data plot's curve or boundary "gdmark-d-K" with its sides
  // "gdmark-s-K", "gdmark-t-K"); the current one shows.
  var marks = document.querySelectorAll('.plot [id^="gdmark-"]');
  function mark(i) {
    for (var k = 0; k < marks.length; k++) {
      var on = /^gdmark-[a-z]+-(\d+)$/.exec(marks[k].id);
      marks[k].classList.toggle("on", !!on && +on[1] === i);
    }
  }

  function show(i, announce) {
    i = Math.max(0, Math.min(n - 1, i | 0));
    var old = rows[cur];
    if (old) { old.classList.remove("current"); old.removeAttribute("aria-current");
               old.firstElementChild.textContent = ""; }
    cur = i;
    frame.innerHTML = data.frames[i] || NOFRAME;
    panel.innerHTML = data.panels[i] || say(words.nopanel || "", i);
    var t = data.explanations[i];
    explain.textContent = t; explainBox.hidden = !t;
    if (fwdSel) showForward();
    slider.value = String(i);
    slider.setAttribute("aria-valuetext", label(i));
    where.textContent = say(words.where, i);
    mark(i);
    var row = rows[i];
    if (row) {
      row.classList.add("current"); row.setAttribute("aria-current", "step");
      row.firstElementChild.textContent = "\u25B6";
      // keep the marked row in view inside its own scroll box, not the page
      var top = row.offsetTop, head = row.parentNode.previousElementSibling.offsetHeight;
      if (top - head < wrap.scrollTop) wrap.scrollTop = top - head;
      else if (top + row.offsetHeight > wrap.scrollTop + wrap.clientHeight)
        wrap.scrollTop = top + row.offsetHeight - wrap.clientHeight;
    }
    $("first").setAttribute("aria-disabled", String(i === 0));
    $("prev").setAttribute("aria-disabled", String(i === 0));
    $("next").setAttribute("aria-disabled", String(i === n - 1));
    $("last").setAttribute("aria-disabled", String(i === n - 1));
    if (announce) live.textContent = words.showing.replace("{label}", label(i));
    try { history.replaceState(null, "", "#" + unit + "-" + num(i)); } catch (e) {}
  }

  $("first").addEventListener("click", function () { show(0, true); });
  $("prev").addEventListener("click", function () { show(cur - 1, true); });
  $("next").addEventListener("click", function () { show(cur + 1, true); });
  $("last").addEventListener("click", function () { show(n - 1, true); });
  slider.addEventListener("input", function () { show(+slider.value, true); });
  document.getElementById("iters").addEventListener("click", function (e) {
    var b = e.target.closest("button.go");
    if (b) show(+b.getAttribute("data-i"), true);
  });
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    if (e.target === slider) return;          // the slider moves itself; "input" follows
    var tag = e.target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || e.target.isContentEditable) return;
    var to;
    if (e.key === "ArrowRight") to = cur + 1;
    else if (e.key === "ArrowLeft") to = cur - 1;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = n - 1;
    else return;
    e.preventDefault();
    show(to, true);
  });

  // Printing: every iteration on its own page (frame, values, chain rule).
  var printAll = $("print-all");
  // (a long run has panels for evenly spaced iterations only: those are printed)
  function fill() {
    var parts = [], shown = [];
    for (var i = 0; i < n; i++) {
      if (!data.panels[i]) continue;
      shown.push(i);
      parts.push('<section class="print-frame">' + data.panels[i] +
                 '<div class="pf">' + (data.frames[i] || NOFRAME) + '</div>' +
                 '<pre class="pe" lang="' + data.lang + '"></pre>' +
                 '<pre class="pf-forward" lang="' + data.lang + '"></pre></section>');
    }
    printAll.innerHTML = parts.join("");
    var pes = printAll.querySelectorAll("pre.pe");
    var pfs = printAll.querySelectorAll("pre.pf-forward");
    for (var k = 0; k < pes.length; k++) {
      var text = data.explanations[shown[k]];
      pes[k].textContent = text;
      if (!text) pes[k].hidden = true;
      // forward mode for the param chosen on the page
      var ft = fwdSel && data.forward[shown[k]] ? data.forward[shown[k]][+fwdSel.value] : "";
      pfs[k].textContent = ft || "";
      if (!ft) pfs[k].hidden = true;
    }
    document.body.classList.add("printing-all");
  }
  function empty() { printAll.innerHTML = ""; document.body.classList.remove("printing-all"); }
  window.addEventListener("beforeprint", fill);
  window.addEventListener("afterprint", empty);
  window.graphdslReport = { show: show, current: function () { return cur; },
                            preparePrint: fill, endPrint: empty };

  var m = new RegExp("^#" + unit + "-(\\d+)$").exec(location.hash);
  var start = 0;
  // the row named, or the shown row nearest to it (rows beyond a limit are thinned;
  // a number past the last opens at the last)
  if (m) for (var j = 0, best = Infinity; j < n; j++) {
    var dist = Math.abs(num(j) - (+m[1]));
    if (dist < best) { best = dist; start = j; }
  }
  show(start, false);
})();
