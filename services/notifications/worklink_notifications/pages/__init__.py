"""Pages: the inbox for signed-in users, and the alliance admin page."""
