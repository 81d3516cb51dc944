export { ControlPlane } from './control-plane.js';
export { startServer, buildApiApp, buildPkiApp, type ServeHandles } from './server.js';
export { ROUTES, type ApiRoute } from './routes.js';
export { ApiTokens, ROLES, type Role, type TokenInfo } from './tokens.js';
export { openApiDocument, rolesFor } from './openapi.js';
export { startGateway, ControlPlaneStatusSource, type GatewayHandle } from './gateway-wiring.js';
export { loadPdp } from './routes.js';
