// Starts Swagger UI at /docs (served from a file: the page's Content-Security-Policy allows no inline script).
window.addEventListener('load', function () {
  var container = document.getElementById('swagger-ui-container')
  // validatorUrl null: no badge fetched from validator.swagger.io, which would be sent our spec's address
  var config = { url: container.dataset.specUrl, dom_id: '#swagger-ui-container', validatorUrl: null }
  var overrides = JSON.parse(container.dataset.config || '{}')
  for (var name in overrides) { config[name] = overrides[name] }
  window.ui = SwaggerUIBundle(config)
})
