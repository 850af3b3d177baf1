// Small enhancements for pages that work without JavaScript: copy and print
// buttons stay hidden unless this script runs.
document.querySelectorAll("[data-copy]").forEach(function (btn) {
  btn.hidden = false;
  btn.addEventListener("click", function () {
    var el = document.getElementById(btn.getAttribute("data-copy"));
    var text = Array.from(el.querySelectorAll("li")).map(function (li) { return li.textContent.trim(); }).join("\n");
    navigator.clipboard.writeText(text).then(function () { btn.textContent = "Copied"; });
  });
});
document.querySelectorAll("[data-print]").forEach(function (btn) {
  btn.hidden = false;
  btn.addEventListener("click", function () { window.print(); });
});
