// The popup's callback page: the package's ready-made entry.
import 'mcp-oauth/callback';
