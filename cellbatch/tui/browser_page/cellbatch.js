// The page's only script of its own. It runs before textual.js connects (DOMContentLoaded
// comes before window.onload), so the session's WebSocket address follows the page's own
// address: ws:// or wss:// (behind a TLS proxy), whatever name and path the page has.
window.addEventListener("DOMContentLoaded", () => {
  const terminal = document.getElementById("terminal");
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  const folder = window.location.pathname.replace(/[^/]*$/, "");
  terminal.dataset.sessionWebsocketUrl = `${scheme}//${window.location.host}${folder}ws`;
  // "Log in again" opens a new session, which starts at the log-in screen.
  document.getElementById("restart").addEventListener("click", () => {
    window.location.reload();
  });
});
