-- sqlite3 workload: build a table, index it, query and aggregate it.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, score REAL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t SELECT i, 'name-' || i || '-' || (i * 7919 % 1000), i % 97, (i * 31 % 1000) / 10.0 FROM n;
CREATE INDEX t_grp ON t(grp, score);
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(grp), round(sum(score), 1) FROM t;
SELECT grp, count(*), round(avg(score), 3) FROM t GROUP BY grp ORDER BY grp LIMIT 3;
SELECT count(*) FROM t a JOIN t b ON a.grp = b.grp AND a.id = b.id + 97;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
