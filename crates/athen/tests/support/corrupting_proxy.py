"""A hostile middlebox for the downloader's tests: a TLS proxy with its own
certificate in front of the real ATHEN server, which flips one byte in the
body of every file download (an answer carrying an Athen-SHA256 header).
Everything else passes unchanged.

    python3 corrupting_proxy.py CERT KEY UPSTREAM_PORT UPSTREAM_CA

Prints the port it listens on, then serves until killed.
"""
import asyncio
import ssl
import sys

cert, key, upstream_port, upstream_ca = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


async def pipe(reader, writer, corrupt):
    seen = b""
    flip_next = False
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if corrupt:
                out = bytearray(data)
                i = 0
                while i < len(out):
                    if flip_next:
                        out[i] ^= 0x01
                        flip_next = False
                        i += 1
                        continue
                    seen = (seen + bytes(out[i:i + 1]))[-4096:]
                    low = seen.lower()
                    if low.endswith(b"\r\n\r\n") and b"\r\nathen-sha256:" in low:
                        flip_next = True
                        seen = b""
                    i += 1
                data = bytes(out)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer):
    ctx = ssl.create_default_context(cafile=upstream_ca)
    try:
        up_reader, up_writer = await asyncio.open_connection(
            "localhost", upstream_port, ssl=ctx, server_hostname="localhost")
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, up_writer, False),
        pipe(up_reader, client_writer, True),
    )


async def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
