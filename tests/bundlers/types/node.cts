// A CommonJS module (module nodenext, a .cts: compiled to require()): Node ^20.19 and >= 22.12
// load the package's ES module from require (engines).
import { McpOAuth } from 'mcp-oauth';

export function make(): Promise<McpOAuth> {
  return McpOAuth.create({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'http://127.0.0.1:8976/cb' });
}
