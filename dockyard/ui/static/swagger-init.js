// Swagger UI on dockyard's OpenAPI document. Execute runs with the signed-in session: the
// cookie is sent by the browser and the CSRF token from the page goes in X-CSRF-Token, which
// the server requires before it accepts a session cookie on /api/v0.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta ? meta.content : "";
  window.ui = SwaggerUIBundle({
    url: "/api/v0/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    requestInterceptor: (request) => {
      request.headers["X-CSRF-Token"] = token;
      request.credentials = "same-origin";
      return request;
    },
  });
});
