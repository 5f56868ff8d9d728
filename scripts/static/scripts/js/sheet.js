// The sheet's print button: the Content-Security-Policy allows no inline handlers.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
