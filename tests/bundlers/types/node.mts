// A Node script (module nodenext: the `node` export condition): the headless grants and DPoP.
import { McpOAuth, McpOAuthHeadless, HeadlessFlow, Flow, clientAssertionClaims } from 'mcp-oauth';

const headless = await McpOAuthHeadless.create({ serverUrl: 'https://mcp.example/mcp', clientId: 'svc', clientSecret: 's' });
const token: string = await headless.accessToken();
const flow = new Flow({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'http://127.0.0.1:8976/cb' });
const wanted: boolean = flow.dpopKeyWanted();
const claims = clientAssertionClaims('svc', 'https://as.example/token', 0);
const auth = await McpOAuth.create({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'http://127.0.0.1:8976/cb', onAuthorizationRequired: 'follow' });
export const used = [token, wanted, claims.jti, auth.status().state, typeof HeadlessFlow];
