-- 013: one packed column for Rating/Show's read of rating_cells
-- (server/svc_rating.c Q_CELLS, docs/rating.md "Performance of opra rating
-- show").
--
-- Show reads every cell of an appraisal (29 200 rows for a full CERT-RMM
-- appraisal over 50 instances). Most of that read's cost is per column
-- sent, not per row scanned: six columns took about 1.5x the time of the
-- three it needs now. `cell` is a stored generated column, computed by
-- PostgreSQL whenever the row changes (the triggers of 010 do not name it,
-- and nothing else writes it), so it can never disagree with the columns
-- it packs:
--
--   bits 32..62  version                    (integer, never negative)
--   bits 28..31  value: 0 none, 1 fi, 2 li, 3 pi, 4 ni, 5 ny
--   bits 14..27  accepted artifacts,   at most 16383 (only 0 / not 0 counts)
--   bits  0..13  accepted affirmations, at most 16383 (likewise)
--
-- It adds 8 bytes to a row and nothing to an index, so the updates stay
-- HOT. The table is rewritten once, here.

ALTER TABLE rating_cells ADD COLUMN cell bigint GENERATED ALWAYS AS (
    (greatest(version, 0)::bigint << 32)
    | ((CASE value WHEN 'fi' THEN 1 WHEN 'li' THEN 2 WHEN 'pi' THEN 3
                   WHEN 'ni' THEN 4 WHEN 'ny' THEN 5 ELSE 0 END)::bigint << 28)
    | (least(greatest(artifacts, 0), 16383)::bigint << 14)
    | least(greatest(affirmations, 0), 16383)::bigint
) STORED;
