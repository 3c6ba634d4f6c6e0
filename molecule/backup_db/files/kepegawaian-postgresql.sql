-- A staffing-style database (SIMPEG-like) for the backup_db scenario: foreign keys, a view, a
-- function, non-ASCII text, and one table of 1,000,000 rows.
CREATE TABLE unit_kerja (id serial PRIMARY KEY, nama text NOT NULL);
CREATE TABLE pegawai (
  nip char(18) PRIMARY KEY,
  nama text NOT NULL,
  unit_id int NOT NULL REFERENCES unit_kerja(id),
  jabatan text,
  alamat text,
  tanggal_lahir date
);
CREATE TABLE riwayat_jabatan (
  id bigserial PRIMARY KEY,
  nip char(18) NOT NULL REFERENCES pegawai(nip),
  jabatan text NOT NULL,
  mulai date NOT NULL
);
CREATE VIEW pegawai_per_unit AS
  SELECT u.nama, count(*) AS jumlah FROM pegawai p JOIN unit_kerja u ON u.id = p.unit_id
  GROUP BY u.nama;
CREATE FUNCTION jumlah_pegawai() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM pegawai';
INSERT INTO unit_kerja (nama) SELECT 'Dinas ' || n FROM generate_series(1, 60) n;
INSERT INTO pegawai
  SELECT lpad(n::text, 18, '0'), 'Pegawai Ke-' || n, 1 + n % 60,
         (ARRAY['Staf', 'Kepala Seksi', 'Kepala Bidang'])[1 + n % 3],
         'Jl. Merdeka No. ' || n || ', Sungailiat — Kabupaten Bangka ✓',
         date '1965-01-01' + (n % 12000)
  FROM generate_series(1, 1000000) n;
INSERT INTO riwayat_jabatan (nip, jabatan, mulai)
  SELECT lpad((1 + n % 1000000)::text, 18, '0'), 'Jabatan ' || (n % 37), date '2000-01-01' + n % 9000
  FROM generate_series(1, 50000) n;
ANALYZE;
