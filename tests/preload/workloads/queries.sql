CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, name TEXT, v REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
INSERT INTO t SELECT i, i % 97, 'name' || (i * 7919 % 100003), i * 0.5 FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(k), min(name), max(name), sum(v) FROM t;
SELECT k, count(*), sum(id) FROM t WHERE k < 5 GROUP BY k ORDER BY k;
SELECT name, count(*) AS n FROM t GROUP BY name ORDER BY n DESC, name LIMIT 5;
SELECT count(*) FROM t a JOIN t b ON a.k = b.k WHERE a.id < 300 AND b.id < 2000;
UPDATE t SET v = v * 2 WHERE k = 3;
DELETE FROM t WHERE id % 3 = 0;
SELECT count(*), sum(v) FROM t;
