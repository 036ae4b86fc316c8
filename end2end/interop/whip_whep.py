"""A WHIP publisher and a WHEP player built on aiortc (PyPI): clients nobody here wrote, for
the interop tests (end2end/tests/whip.spec.ts).

    whip_whep.py publish URL [--seconds N] [--token KEY] [--codec vp8|h264]
        POST an offer with a test picture (lavfi testsrc) and a tone to URL (/whip/<room>),
        send for N seconds, then DELETE the session. --codec offers only that video codec
        (OBS and most hardware encoders send H.264).
    whip_whep.py play URL [--frames N] [--timeout S]
        POST a receive-only offer to URL (/whep/<room>) and decode the picture; print the
        number of decoded frames and exit 0 once N have decoded (1 on a timeout), then DELETE.

Each prints one line per step on stdout ("created <Location>", "frames <n>", ...).
"""

import argparse
import asyncio
import sys
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer


async def post_offer(session, url, pc, token):
    await pc.setLocalDescription(await pc.createOffer())
    # aiortc gathers every candidate before the offer is done: none to trickle.
    headers = {"Content-Type": "application/sdp"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(url, data=pc.localDescription.sdp, headers=headers) as reply:
        body = await reply.text()
        if reply.status != 201:
            print(f"refused {reply.status} {body}", flush=True)
            sys.exit(2)
        location = urljoin(url, reply.headers["Location"])
    print(f"created {location}", flush=True)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return location


async def publish(args):
    picture = MediaPlayer("testsrc=size=640x480:rate=30", format="lavfi")
    tone = MediaPlayer("sine=frequency=440:sample_rate=48000", format="lavfi")
    pc = RTCPeerConnection()
    video = pc.addTransceiver(picture.video, direction="sendonly")
    pc.addTransceiver(tone.audio, direction="sendonly")
    if args.codec:
        wanted = f"video/{args.codec}".lower()
        codecs = RTCRtpSender.getCapabilities("video").codecs
        video.setCodecPreferences([c for c in codecs if c.mimeType.lower() in (wanted, "video/rtx")])
    async with aiohttp.ClientSession() as session:
        location = await post_offer(session, args.url, pc, args.token)
        await asyncio.sleep(args.seconds)
        async with session.delete(location) as reply:
            print(f"deleted {reply.status}", flush=True)
    await pc.close()


async def play(args):
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    decoded = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track):
        if track.kind != "video":
            return

        async def count():
            frames = 0
            while frames < args.frames:
                frame = await track.recv()
                if frame.width > 0:
                    frames += 1
            if not decoded.done():
                decoded.set_result(frames)

        asyncio.ensure_future(count())

    async with aiohttp.ClientSession() as session:
        location = await post_offer(session, args.url, pc, args.token)
        try:
            frames = await asyncio.wait_for(decoded, args.timeout)
            print(f"frames {frames}", flush=True)
            code = 0
        except asyncio.TimeoutError:
            print("frames 0 (timed out)", flush=True)
            code = 1
        async with session.delete(location) as reply:
            print(f"deleted {reply.status}", flush=True)
    await pc.close()
    return code


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["publish", "play"])
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--token")
    parser.add_argument("--codec", choices=["vp8", "h264"])
    args = parser.parse_args()
    if args.mode == "publish":
        asyncio.run(publish(args))
        return 0
    return asyncio.run(play(args))


if __name__ == "__main__":
    sys.exit(main())
