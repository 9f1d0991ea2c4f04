// Starts Swagger UI 5 on the document named by the container's data-spec-url (kept out of the page for CSP).
window.addEventListener("DOMContentLoaded", function () {
  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null, // offline: no badge fetched from validator.swagger.io
  });
});
