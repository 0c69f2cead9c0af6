"""A fleet: instances that answer MCP clients, workers that run the tasks, Redis between them.

Run it:  taskapp run examples/fleet.py:app

That serves it on stdio in one process, like any app. The app itself is ordinary;
how it is spread over machines is decided by the command line:

    # Redis 6.2 or later, reachable from every machine (here, in Docker)
    docker run -d --name redis -p 6379:6379 redis:7
    export TASKAPP_STORE=redis://redis.internal:6379/0   # --store works too

    # Instances (behind a load balancer): they answer MCP requests and put each
    # task in Redis's work queue instead of running it
    taskapp run examples/fleet.py:app --transport http --host 0.0.0.0 --port 8000 --executor queue

    # Workers, as many as the load needs: each runs up to --concurrency queued tasks,
    # and on SIGTERM takes no more and lets its running tasks finish (up to --grace)
    taskapp worker examples/fleet.py:app --concurrency 8 --grace 30

    # Call it through an instance; the task runs on a worker
    taskapp call http://instance-1:8000/mcp render scene=intro frames=48

Every instance and worker imports the same app (the same code, the same version).
docs/deploy.md explains the rest: auth, sessions, leases, and what a crash costs.
"""

import anyio

from taskapp import TaskApp, TaskContext

app = TaskApp("fleet", version="1.0.0", lease_s=15.0)


@app.task_tool(mode="required", on_interrupt="rerun")
async def render(ctx: TaskContext, scene: str, frames: int = 48, delay: float = 0.05) -> str:
    """Render every frame of a scene.

    Safe to run again from the start (each frame is written whole, under its own
    name), so a task whose worker died is run again by another (`on_interrupt="rerun"`).

    Args:
        scene: The scene to render.
        frames: How many frames it has.
        delay: Seconds each frame takes.
    """
    for frame in range(1, frames + 1):
        await anyio.sleep(delay)  # render the frame and store it under (scene, frame)
        await ctx.report_progress(frame, total=frames)
        if frame % 12 == 0 or frame == frames:
            await ctx.update_status(f"{scene}: frame {frame}/{frames}")
    return f"rendered {scene}: {frames} frames"
