// Small enhancements for pages that work without JavaScript.

// Copy and print buttons stay hidden unless this script runs. The page
// gives the words the button changes to, in its language
// (data-msg-copied); English is the fallback.
document.querySelectorAll("[data-copy]").forEach(function (btn) {
  btn.hidden = false;
  btn.addEventListener("click", function () {
    var el = document.getElementById(btn.getAttribute("data-copy"));
    var text = Array.from(el.querySelectorAll("li")).map(function (li) { return li.textContent.trim(); }).join("\n");
    navigator.clipboard.writeText(text).then(function () { btn.textContent = btn.getAttribute("data-msg-copied") || "Copied"; });
  });
});
document.querySelectorAll("[data-print]").forEach(function (btn) {
  btn.hidden = false;
  btn.addEventListener("click", function () { window.print(); });
});

// A destructive action's link leads to a page that asks first. With script,
// the same question (fetched from that page, so it is word for word the
// server's) opens in a modal <dialog> over the current page instead.
document.addEventListener("click", function (ev) {
  var a = ev.target.closest && ev.target.closest("a[data-confirm]");
  if (!a || !window.HTMLDialogElement || ev.ctrlKey || ev.metaKey || ev.shiftKey) { return; }
  ev.preventDefault();
  fetch(a.href, { credentials: "same-origin" }).then(function (res) {
    if (!res.ok) { throw new Error(res.status); }
    return res.text();
  }).then(function (html) {
    var found = new DOMParser().parseFromString(html, "text/html").getElementById("confirm");
    if (!found) { throw new Error("no question"); }
    var old = document.getElementById("confirm");
    if (old) { old.remove(); }
    var dlg = document.createElement("dialog");
    dlg.id = "confirm";
    dlg.className = "confirm";
    dlg.setAttribute("aria-labelledby", "confirm-h");
    dlg.setAttribute("aria-describedby", "confirm-d");
    while (found.firstChild) { dlg.appendChild(found.firstChild); }
    document.body.appendChild(dlg);
    var cancel = dlg.querySelector("a.cancel");
    if (cancel) {
      cancel.addEventListener("click", function (e) { e.preventDefault(); dlg.close(); });
    }
    // Closed by Cancel or Escape: the question leaves the page at once.
    dlg.addEventListener("close", function () { dlg.remove(); a.focus(); });
    dlg.showModal();
  }).catch(function () { window.location = a.href; });
});

// The language menu changes the page as soon as a language is picked
// (without script, its button does).
document.querySelectorAll(".lang-menu select").forEach(function (sel) {
  var go = sel.form.querySelector(".lang-go");
  if (go) { go.hidden = true; }
  sel.addEventListener("change", function () { sel.form.submit(); });
});
