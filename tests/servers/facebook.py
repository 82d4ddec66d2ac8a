"""A Facebook Pages contract server, written from Meta's documentation (stateful, scripted faults).

Sources (developers.facebook.com/docs/...): pages-api/posts (publish with `message`, `link`,
`published`; the answer `{"id": "{page-id}_{post-id}"}`; read `permalink_url`; comment on a
post), graph-api/reference/page/photos (`source` upload, `published=false` unpublished
photos, `{"id", "post_id"}`, `alt_text_custom`), graph-api/reference/page/feed (`since`,
`attached_media`), video-api/guides/publishing (the resumable upload's
`upload_phase=start|transfer|finish`, offsets as strings), graph-api/reference/object/comments,
graph-api/guides/error-handling (codes 2, 100, 190/463, 200, 506) and
graph-api/overview/rate-limiting (`X-Business-Use-Case-Usage`, code 80001 for Pages).
Shared behaviour (versions, tokens, parameters): `tests/servers/graph.py`.

Facebook Login is `tests/servers/graph.py` `FacebookLogin` (`login`; a test registers its
redirect URI with `login.allow_redirect`); `GET /{version}/me/accounts` (pages-api/getting-started)
with a long-lived user token lists the user's `managed` Pages with their Page tokens.

What it checks as Facebook does: the Page token acts only for its Page (code 200 otherwise);
a post needs `message`, `link` or attached media (code 100); `attached_media` ids must be
this Page's unpublished photos, each attached once; photo bytes must be an image; a video's
chunks must arrive at the offsets it asked for, and `finish` only when all bytes are there;
a comment's parent must exist; the same message twice from a Page within a day is refused
as a duplicate (code 506, `(#506) Duplicate status message`). Times come from `clock`
(the tests' clock), so the feed's `since` agrees with the connector's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.servers.base import Fault, Request, Response
from tests.servers.graph import Call, FacebookLogin, GraphServer, error, usage

MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF87a", b"GIF89a")
CHUNK = 1 << 20
DUPLICATE_WINDOW = timedelta(days=1)
USER = "10160000000000001"


class FacebookServer(GraphServer):
    versions = ("v24.0", "v25.0", "v26.0")
    network = "Facebook"

    def __init__(
        self, pages: dict[str, str] | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        pages = pages or {"page-token": "1234567890"}
        super().__init__(pages, clock=clock)
        self.posts: dict[str, dict[str, Any]] = {}
        self.photos: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.login = FacebookLogin(USER, lambda _token, _user: None)
        self.managed: dict[str, list[dict[str, Any]]] = {
            USER: [
                {"id": page, "name": f"Page {page}", "access_token": token} for token, page in pages.items()
            ]
        }
        """user -> the Pages they manage, with each Page's token (`GET /me/accounts`)."""

    # -- Facebook Login ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] in self.versions:
            with self.lock:
                answer = self.login.serve(request, parts[1:])
                if answer is not None:
                    return answer
                if parts[1:] == ["me", "accounts"] and request.method == "GET":
                    return self._accounts(request)
        return super().handle(request)

    def _accounts(self, request: Request) -> Response:
        auth = request.header("Authorization") or ""
        user = self.login.long_lived.get(auth.removeprefix("Bearer ").strip())
        if user is None:
            return error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        pages = [
            {**page, "category": "Restaurant", "tasks": ["CREATE_CONTENT", "MANAGE"]}
            for page in self.managed.get(user, [])
        ]
        return Response(200, {"data": pages, "paging": {"cursors": {"before": "QVFI", "after": "QVFI"}}})

    # -- routes ---------------------------------------------------------------------------------------

    def route(self, method: str, call: Call, owner: str) -> Response:
        path = call.path
        if method == "POST" and len(path) == 2:
            target, edge = path
            if edge in ("feed", "photos", "videos") and target != owner:
                return error(
                    403, 200, "(#200) The user hasn't authorized the application to perform this action"
                )
            handler = {
                "feed": self._feed,
                "photos": self._photo,
                "videos": self._video,
                "comments": self._comment,
            }
            if edge in handler:
                return handler[edge](target, call.params, call)
        if method == "GET" and len(path) == 1:
            return self._read(path[0], call.params, owner)
        if method == "GET" and len(path) == 2 and path[1] in ("feed", "videos", "comments"):
            return self._list(path[0], path[1], call.params)
        return error(400, 100, f"Unsupported {method.lower()} request.", 33)

    def _feed(self, page: str, params: dict[str, str], call: Call) -> Response:
        message = params.get("message", "")
        attached = []
        for index in range(100):
            raw = params.get(f"attached_media[{index}]")
            if raw is None:
                break
            try:
                photo = str(json.loads(raw)["media_fbid"])
            except (ValueError, KeyError, TypeError):
                return error(400, 100, "(#100) Invalid attached_media")
            found = self.photos.get(photo)
            if found is None or found["page"] != page or found["published"] or found["attached"]:
                return error(400, 100, f"(#100) param attached_media[{index}] has invalid media_fbid {photo}")
            attached.append(photo)
        if not message and not params.get("link") and not attached:
            return error(400, 100, "(#100) Missing message or attachment")
        if len(message) > 63_206:
            return error(400, 100, "(#100) The message is too long")
        if message and self._duplicate(page, message):
            return error(400, 506, "(#506) Duplicate status message")
        for photo in attached:
            self.photos[photo]["attached"] = True
        post = self._new_post(page, message, link=params.get("link"), media=attached)
        return Response(200, {"id": post["id"]})

    def _photo(self, page: str, params: dict[str, str], call: Call) -> Response:
        upload = call.files.get("source")
        if upload is None and not params.get("url"):
            return error(400, 324, "(#324) Requires upload file")
        if upload is not None and not upload.data.startswith(MAGIC):
            return error(400, 100, "(#100) Invalid image: the file is not a picture")
        photo_id = self.new_id()
        published = params.get("published", "true") != "false"
        photo = {
            "id": photo_id,
            "page": page,
            "published": published,
            "attached": False,
            "alt": params.get("alt_text_custom", ""),
            "data": upload.data if upload else b"",
        }
        self.photos[photo_id] = photo
        if not published:
            return Response(200, {"id": photo_id})
        message = params.get("message", "")
        if message and self._duplicate(page, message):
            return error(400, 506, "(#506) Duplicate status message")
        post = self._new_post(page, message, media=[photo_id])
        return Response(200, {"id": photo_id, "post_id": post["id"]})

    def _video(self, page: str, params: dict[str, str], call: Call) -> Response:
        phase = params.get("upload_phase")
        if phase == "start":
            size = int(params.get("file_size") or 0)
            if size <= 0:
                return error(400, 100, "(#100) file_size is required")
            session = {"page": page, "size": size, "data": b"", "video": self.new_id(), "id": self.new_id()}
            self.sessions[session["id"]] = session
            return Response(
                200,
                {
                    "video_id": session["video"],
                    "upload_session_id": session["id"],
                    "start_offset": "0",
                    "end_offset": str(min(size, CHUNK)),
                },
            )
        session = self.sessions.get(params.get("upload_session_id", ""))
        if session is None or session["page"] != page:
            return error(400, 100, "(#100) Invalid upload_session_id")
        if phase == "transfer":
            chunk = call.files.get("video_file_chunk")
            if chunk is None or params.get("start_offset") != str(len(session["data"])):
                return error(400, 6001, "(#6001) There was a problem uploading your video file: bad offset")
            session["data"] += chunk.data
            done = len(session["data"])
            return Response(
                200, {"start_offset": str(done), "end_offset": str(min(session["size"], done + CHUNK))}
            )
        if phase == "finish":
            if len(session["data"]) != session["size"]:
                return error(400, 6001, "(#6001) There was a problem uploading your video file: incomplete")
            description = params.get("description", "")
            self._new_post(page, description, media=[session["video"]], video=session["video"])
            return Response(200, {"success": True})
        return error(400, 100, "(#100) upload_phase must be start, transfer or finish")

    def _comment(self, parent: str, params: dict[str, str], call: Call) -> Response:
        if parent not in self.posts:
            return error(
                400, 100, f"(#100) Unsupported post request. Object with ID '{parent}' does not exist", 33
            )
        message = params.get("message", "")
        if not message:
            return error(400, 100, "(#100) Missing message or attachment")
        page = self.posts[parent]["page"]
        comment_id = f"{parent.split('_')[-1]}_{self.new_id()}"
        comment = {
            "id": comment_id,
            "message": message,
            "parent": parent,
            "from": {"id": page, "name": "Page"},
            "created_time": self.created_time(),
            "permalink_url": f"https://www.facebook.com/{page}/posts/{parent.split('_')[-1]}"
            f"?comment_id={comment_id.split('_')[-1]}",
        }
        self.comments[comment_id] = comment
        self.created.append({"id": comment_id, "text": message, "in_reply_to_id": parent, "media_ids": []})
        return Response(200, {"id": comment_id})

    def _read(self, object_id: str, params: dict[str, str], owner: str) -> Response:
        if object_id == owner:
            return Response(200, {"id": owner, "name": "Harbour Café"})
        found = self.posts.get(object_id) or self.comments.get(object_id)
        if found is None:
            video = next((p for p in self.posts.values() if p.get("video") == object_id), None)
            if video is None:
                return error(400, 100, f"(#100) Object with ID '{object_id}' does not exist", 33)
            return Response(200, {"id": object_id, "permalink_url": f"/{video['page']}/videos/{object_id}/"})
        return Response(200, {"id": object_id, "permalink_url": found["permalink_url"]})

    def _list(self, object_id: str, edge: str, params: dict[str, str]) -> Response:
        if edge == "comments":
            entries = [c for c in self.comments.values() if c["parent"] == object_id]
        elif edge == "videos":
            entries = [
                {
                    "id": p["video"],
                    "description": p["message"],
                    "created_time": p["created_time"],
                    "permalink_url": f"/{object_id}/videos/{p['video']}/",
                }
                for p in self.posts.values()
                if p["page"] == object_id and p.get("video")
            ]
        else:
            since = int(params.get("since") or 0)
            entries = [
                p
                for p in self.posts.values()
                if p["page"] == object_id
                and datetime.strptime(p["created_time"], "%Y-%m-%dT%H:%M:%S%z").timestamp() >= since
            ]
        entries = sorted(entries, key=lambda e: e["created_time"], reverse=True)[
            : int(params.get("limit") or 25)
        ]
        fields = (params.get("fields") or "id").split(",")
        return Response(200, {"data": [{k: e[k] for k in fields if k in e} for e in entries]})

    # -- state ----------------------------------------------------------------------------------------

    def _duplicate(self, page: str, message: str) -> bool:
        now = self.clock()
        return any(
            p["page"] == page
            and p["message"] == message
            and now - datetime.strptime(p["created_time"], "%Y-%m-%dT%H:%M:%S%z") < DUPLICATE_WINDOW
            for p in self.posts.values()
        )

    def _new_post(
        self,
        page: str,
        message: str,
        *,
        link: str | None = None,
        media: list[str] | None = None,
        video: str | None = None,
    ) -> dict[str, Any]:
        number = self.new_id()
        post = {
            "id": f"{page}_{number}",
            "page": page,
            "message": message,
            "link": link,
            "media": list(media or []),
            "video": video,
            "created_time": self.created_time(),
            "permalink_url": f"https://www.facebook.com/{page}/posts/{number}",
        }
        self.posts[post["id"]] = post
        self.created.append(
            {"id": post["id"], "text": message, "in_reply_to_id": None, "media_ids": post["media"]}
        )
        return post

    def add_post(self, page: str, message: str, *, at: datetime | None = None) -> dict[str, Any]:
        """A post made earlier (by another attempt, or by hand)."""
        post = self._new_post(page, message)
        if at is not None:
            post["created_time"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
        self.created.pop()
        return post

    # -- faults ---------------------------------------------------------------------------------------

    def fault_rate_limited(self, match: Callable[[Request], bool], page: str, minutes: int = 17) -> Fault:
        response = error(
            400,
            80001,
            "(#80001) There have been too many calls to this Page account. Wait a bit and try again.",
        )
        response.headers.update(usage("pages", page, minutes))
        return self.inject(Fault(match=match, response=response))
