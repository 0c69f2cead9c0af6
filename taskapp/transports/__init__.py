"""How messages travel: stdio, Streamable HTTP (server and client side), and in memory."""
