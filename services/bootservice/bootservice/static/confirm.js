// Asks before a form marked with data-confirm is sent. The question is read
// from the attribute as plain text, so no name in it can ever run as code.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) {
    return;
  }
  if (!window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
