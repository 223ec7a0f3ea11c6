// The composer's %field% chips insert their tag where the cursor is in the message, replacing
// a selection (htmx cannot edit a textarea's text). The input event then lets htmx recount.
(function () {
  var touched = {};
  document.addEventListener("focusin", function (event) {
    if (event.target.id) { touched[event.target.id] = true; }
  });
  document.addEventListener("click", function (event) {
    var chip = event.target.closest && event.target.closest("[data-insert-tag]");
    if (!chip) { return; }
    var field = document.getElementById(chip.getAttribute("data-for"));
    if (!field) { return; }
    var tag = chip.getAttribute("data-insert-tag");
    // Never focused: the cursor means nothing yet, so the tag goes at the end.
    var start = touched[field.id] ? field.selectionStart : field.value.length;
    var end = touched[field.id] ? field.selectionEnd : field.value.length;
    field.focus();
    field.setRangeText(tag, start, end, "end");
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
}());
