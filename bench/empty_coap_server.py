"""The ceiling for bench/gateway_throughput.py: an aiocoap server whose POST
handler does nothing (2.04 Changed at once). Argument: port."""

import asyncio
import sys

import aiocoap
from aiocoap import resource


class Empty(resource.Resource):
    async def render_post(self, request):
        return aiocoap.Message(code=aiocoap.CHANGED)


async def main(port: int) -> None:
    root = resource.Site()
    root.add_resource(["i"], Empty())
    await aiocoap.Context.create_server_context(root, bind=("127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
