// Status changes are read out by screen readers through one polite live region in
// base.html (#announcer): a region swapped in by htmx is often not announced itself.
function announce(text) {
  const announcer = document.getElementById("announcer");
  if (!announcer || !text) return;
  announcer.textContent = "";
  setTimeout(() => { announcer.textContent = text; }, 50);
}

// Copy buttons: <button data-copy-target="#id">. Delegated, so it also works on
// fragments that htmx swaps in after the page loaded. "Copied" only when it worked.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copyTarget);
  if (!field) return;
  const label = button.dataset.label || (button.dataset.label = button.textContent);
  let copied = false;
  try {
    await navigator.clipboard.writeText(field.value);
    copied = true;
  } catch {
    // No clipboard API outside a secure context (plain http on a LAN address).
    field.focus();
    field.select();
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
  }
  button.textContent = copied ? "Copied" : "Not copied: press Ctrl+C (⌘C)";
  announce(copied ? "Copied the key." : "Could not copy: the key is selected, press Ctrl+C.");
  clearTimeout(button.resetTimer);
  button.resetTimer = setTimeout(() => { button.textContent = label; }, 3000);
});

// Focus after htmx swaps: an element marked data-focus in the new content gets focus and
// comes into view (the new key, selected for copying; the saved row; a confirmation's
// heading; the first field of an opened form). A form that came back with errors focuses
// its first invalid field instead.
document.addEventListener("htmx:afterSettle", (event) => {
  let target = event.detail.target;
  // An outerHTML swap replaced the target: look at what took its place.
  if (target && !target.isConnected && target.id) target = document.getElementById(target.id);
  if (!target) return;
  // After the swap's other parts (a table swapped out of band) have settled too.
  setTimeout(() => focusChanged(target), 0);
});

function focusChanged(target) {
  if (!target.isConnected) return;
  const invalid = target.querySelector(".is-invalid");
  let element = invalid || target.querySelector("[data-focus]");
  if (element && element.dataset.focus && element.dataset.focus !== "self") {
    element = document.querySelector(element.dataset.focus) || element;
  }
  if (element && document.activeElement !== element) {
    element.focus({ preventScroll: true });
    element.scrollIntoView({ block: "nearest" });
    if (element.matches("input[readonly]")) element.select();
  }
  // role="alert" is read out on its own; a swapped-in role="status" often is not.
  const status = target.querySelector('[role="status"]');
  if (status && status.dataset.announced !== "1") {
    status.dataset.announced = "1";
    announce(status.textContent.trim());
  }
}

// The keys page's panel: remember what opened it, so closing it gives focus back.
let panelOpener = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  const panel = event.detail.target;
  if (panel && panel.id === "key-panel" && !panel.contains(event.detail.elt)) {
    panelOpener = event.detail.elt;
  }
});

function closePanel(panel) {
  panel.replaceChildren();
  const opener = panelOpener && panelOpener.isConnected ? panelOpener : null;
  (opener || document.querySelector("[data-testid=add-key]"))?.focus();
  announce("Closed.");
}

// Cancel in the keys panel closes it in place (without JavaScript it is a link to the list).
document.addEventListener("click", (event) => {
  const cancel = event.target.closest("#key-panel [data-cancel]");
  if (!cancel) return;
  event.preventDefault();
  closePanel(document.getElementById("key-panel"));
});

// Escape closes an open form or confirmation: the keys panel (never the one showing a new
// key: it is shown only once, and Done closes it), or a confirmation's Cancel.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  const panel = document.getElementById("key-panel");
  if (panel && panel.children.length && !panel.querySelector("[data-shown-once]")) {
    event.preventDefault();
    closePanel(panel);
    return;
  }
  const cancel = document.querySelector("[data-confirmation] [data-cancel]");
  if (cancel) {
    event.preventDefault();
    cancel.click();
  }
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
