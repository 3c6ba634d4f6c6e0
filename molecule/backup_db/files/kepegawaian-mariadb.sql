-- The same staffing-style database for MariaDB: foreign key, view, function, trigger,
-- non-ASCII text, a BLOB column, and one table of 1,000,000 rows.
CREATE TABLE unit_kerja (id int AUTO_INCREMENT PRIMARY KEY, nama varchar(80) NOT NULL)
  ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE pegawai (
  nip char(18) PRIMARY KEY,
  nama varchar(120) NOT NULL,
  unit_id int NOT NULL,
  jabatan varchar(80),
  alamat text,
  foto blob,
  CONSTRAINT fk_unit FOREIGN KEY (unit_id) REFERENCES unit_kerja(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE riwayat (nip char(18), kapan timestamp DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB;
CREATE VIEW pegawai_per_unit AS
  SELECT u.nama, count(*) AS jumlah FROM pegawai p JOIN unit_kerja u ON u.id = p.unit_id
  GROUP BY u.nama;
CREATE FUNCTION jumlah_pegawai() RETURNS bigint READS SQL DATA
  RETURN (SELECT count(*) FROM pegawai);
CREATE TRIGGER catat AFTER INSERT ON pegawai FOR EACH ROW
  INSERT INTO riwayat (nip) VALUES (NEW.nip);
INSERT INTO unit_kerja (nama) SELECT concat('Dinas ', seq) FROM seq_1_to_60;
INSERT INTO pegawai
  SELECT lpad(seq, 18, '0'), concat('Pegawai Ke-', seq), 1 + seq % 60, 'Staf',
         concat('Jl. Merdeka No. ', seq, ', Sungailiat — Kabupaten Bangka ✓'), X'00FF10'
  FROM seq_1_to_1000000;
ANALYZE TABLE unit_kerja, pegawai, riwayat;
