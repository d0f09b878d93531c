-- GA releases recorded with `playbook data release VERSION [--product P]`
-- (workers/releases.py). With the versions the accounts run, they are the release
-- history versions_behind is counted in. product_line '' is a release of every
-- product line.
CREATE TABLE IF NOT EXISTS ga_releases (
    product_line  text NOT NULL DEFAULT '',
    version       text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_line, version)
);
