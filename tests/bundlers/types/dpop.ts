// The browser DPoP entry: the same API, and the Flow's DPoP steps.
import { McpOAuth, Flow, assembleDpopProof } from 'mcp-oauth/dpop';

export async function dpop(): Promise<string | undefined> {
  await McpOAuth.create({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'https://app.example/cb', dpop: 'always' });
  const flow = new Flow({ serverUrl: 'https://mcp.example/mcp', redirectUri: 'https://app.example/cb' });
  flow.useHostDpopSigning();
  const proof = flow.pollProof(new Uint8Array(16));
  return proof ? assembleDpopProof(proof.signingInput, new Uint8Array(64)) : undefined;
}
