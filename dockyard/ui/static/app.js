// dockyard web UI: small progressive enhancements. Every form also works without this file,
// except the webhook Test button, which calls the API.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Forms with data-confirm ask before submitting (deletes).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm) {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  }
});

// Copy buttons: data-copy holds a selector of the element whose text to copy.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  try {
    await navigator.clipboard.writeText(source.textContent.trim());
    button.textContent = "Copied";
  } catch (_err) {
    button.textContent = "Select and copy";
  }
});

// The webhook Test button: POST /api/v0/webhooks/test with the form's values and show the
// receiver's answer next to the URL field.
function describeFailure(body, status) {
  const err = body && Array.isArray(body.errors) && body.errors[0];
  if (!err) return `The test failed (HTTP ${status}).`;
  let text = err.message || err.code;
  const d = err.detail;
  // The server's message already says what happened; add only the facts it does not name,
  // so nothing reads twice.
  if (d && typeof d === "object") {
    const parts = [];
    const code = d.statusCode || d.status;
    if (code && !text.includes(String(code))) parts.push(`receiver answered ${code}`);
    const reason = d.error || d.reason;
    if (reason && !text.includes(reason)) parts.push(reason);
    if (d.latencyMs !== undefined && !/\d ms\b/.test(text)) {
      parts.push(`${Math.round(d.latencyMs)} ms`);
    }
    if (parts.length) text += ` (${parts.join(", ")})`;
  } else if (typeof d === "string" && d && !text.includes(d)) {
    text += ` (${d})`;
  }
  return text;
}

async function runWebhookTest(button) {
  const form = button.closest("form");
  const out = document.getElementById(button.dataset.result);
  const value = (name) => {
    const el = form.elements.namedItem(name);
    if (!el) return "";
    return el.type === "checkbox" ? el.checked : el.value;
  };
  const endpoint = String(value("endpoint")).trim();
  out.className = "testresult";
  if (!endpoint) {
    out.textContent = "Enter the URL that should receive the payload first.";
    out.classList.add("bad");
    return;
  }
  out.textContent = "Sending a test payload…";
  const payload = {
    type: value("type"),
    endpoint: endpoint,
    tlsCert: value("tlsCert") || "",
    skipTLSVerification: Boolean(value("skipTLSVerification")),
  };
  const started = performance.now();
  button.disabled = true;
  try {
    const response = await fetch("/api/v0/webhooks/test", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(payload),
    });
    const elapsed = Math.round(performance.now() - started);
    let body = null;
    try { body = await response.json(); } catch (_err) { body = null; }
    if (response.ok) {
      let text = "Success: the receiver accepted the test payload";
      const code = body && (body.statusCode || body.status);
      if (code) text += ` with HTTP ${code}`;
      const latency = body && body.latencyMs !== undefined ? Math.round(body.latencyMs) : elapsed;
      out.textContent = `${text} in ${latency} ms.`;
      out.classList.add("ok");
    } else if (response.status === 401) {
      out.textContent = "Your session has ended. Reload the page and sign in again.";
      out.classList.add("bad");
    } else {
      out.textContent = describeFailure(body, response.status);
      out.classList.add("bad");
    }
  } catch (err) {
    out.textContent = `dockyard could not be reached: ${err}`;
    out.classList.add("bad");
  } finally {
    button.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-webhook-test]");
  if (button) {
    event.preventDefault();
    runWebhookTest(button);
  }
});
