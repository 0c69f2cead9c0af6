"""Wire dialects: JSON-RPC framing and the MCP shapes each protocol version uses."""
