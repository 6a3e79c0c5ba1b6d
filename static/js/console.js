// Copy buttons: <button data-copy-target="#id">. Delegated, so it also works on
// fragments that htmx swaps in after the page loaded.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copyTarget);
  if (!field) return;
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // No clipboard API outside a secure context (plain http on a LAN address).
    field.select();
    document.execCommand("copy");
  }
  button.textContent = "Copied";
});

// History filters (<form data-auto-apply>): a change applies at once through htmx, without
// the Show button. A timeframe and a date range exclude each other, so choosing one clears
// the other; a range applies once both dates are whole (a year typed digit by digit is
// "0002", "0020"… first), after a pause.
let applyTimer;
function applyFilters(form, delay = 0) {
  if (!window.htmx) return;  // without htmx the Show button posts the form
  clearTimeout(applyTimer);
  applyTimer = setTimeout(() => form.requestSubmit(), delay);
}

function wholeDate(input) {
  return /^[1-9]\d{3}-\d{2}-\d{2}$/.test(input.value);
}

document.addEventListener("change", (event) => {
  const form = event.target.closest("form[data-auto-apply]");
  if (!form) return;
  const { timeframe, start, end } = form.elements;
  const field = event.target;
  if (field === timeframe) {
    if (!timeframe.value) return;  // "— or a date range —": wait for the dates
    start.value = "";
    end.value = "";
    applyFilters(form);
  } else if (field === start || field === end) {
    if (field.value) timeframe.value = "";
    if (wholeDate(start) && wholeDate(end)) applyFilters(form, 400);
  } else if (field.name === "keys") {
    applyFilters(form);
  }
});

// "All" and "None" beside the key checkboxes. None waits for a key to be ticked: applied
// at once it would show every key ("none checked" means all of them).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-check]");
  if (!button) return;
  const form = button.closest("form");
  const all = button.dataset.check === "all";
  form.querySelectorAll('input[name="keys"]').forEach((box) => { box.checked = all; });
  if (all) applyFilters(form);
});
