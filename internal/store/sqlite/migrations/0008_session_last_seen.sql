-- A login session's last recorded use (Unix microseconds), from which its
-- idle timeout runs: a column of its own so that recording a use is a small
-- write, and a conditional one (only forward; an idle session is removed
-- only while it is still unused). 0: not known, in sessions stored before
-- it was kept, until their first use is recorded.
ALTER TABLE login_sessions ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;
