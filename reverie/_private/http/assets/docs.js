// /docs: Swagger UI (from the swagger-ui-bundle package, served by the host) over this host's
// OpenAPI document. Nothing is fetched from outside the host: no CDN, no online validator.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/docs/openapi-3.0.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    docExpansion: "list",
  });
});
