import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

/** Schemas that validate requests are registered here too, so /openapi.json matches the code. */
export { z };

export const registry = new OpenAPIRegistry();

registry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  description: 'Opaque token from POST /v1/auth/token',
});
registry.registerComponent('securitySchemes', 'webhookSignature', {
  type: 'apiKey',
  in: 'header',
  name: 'Stripe-Signature',
  description: "The payment processor's HMAC signature of the raw body, with its timestamp (PY3)",
});

export function buildOpenApiDocument(serverUrl: string): unknown {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Rasmi API',
      version: '1.0.0',
      description:
        'Professional headshots from your selfies, with a privacy policy kept in code. Errors are application/problem+json with a stable `code`.',
    },
    servers: [{ url: serverUrl }],
  });
}
