-- 011: practices are joined to their goals everywhere a model's structure
-- is read (rating show, model show). Without an index on goal_id, a plan
-- made before autovacuum has analysed freshly imported models nests a scan
-- of every practice inside every goal: measured 313 ms for one rating show
-- of a full CERT-RMM appraisal, 1 ms with this index.
CREATE INDEX practices_goal ON practices (goal_id);
