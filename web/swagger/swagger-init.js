// Starts Swagger UI on the OpenAPI document the server generates from its route table.
// The document's only server is "/", so "Try it out" calls this same server.
window.addEventListener('load', () => {
  window.ui = SwaggerUIBundle({
    url: '/swagger/v1/swagger.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
});
