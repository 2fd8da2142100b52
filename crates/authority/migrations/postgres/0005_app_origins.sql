-- The web origins an app's pages are served from (CORS), as a JSON array of
-- origin strings (`["https://app.example.com"]`); empty: none beyond the
-- authority's `cors.allowed_origins`.

ALTER TABLE apps ADD COLUMN allowed_origins TEXT NOT NULL DEFAULT '[]';
