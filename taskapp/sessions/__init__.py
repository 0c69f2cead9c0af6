"""MCP sessions: one per dialect (2025-11-25, 2026-07-28), the shared base, and the one
module that picks a dialect (`server`). They run on the engine and speak through `wire`."""
