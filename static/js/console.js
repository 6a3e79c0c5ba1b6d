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
