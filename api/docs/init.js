// Renders Coffer's OpenAPI document with Swagger UI; everything comes from Coffer itself.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default badge would fetch from validator.swagger.io
    presets: [SwaggerUIBundle.presets.apis],
  });
};
