#!/usr/bin/env python3
"""SecureDrop's manage.py approach to disconnected submissions, for comparison: load every
submission and reply through the SQLAlchemy ORM, walk the store with os.walk, and match by
bare file name in both directions (rows without files, files without rows, with sizes).

usage: naive_manage_py.py STORE_DIR DB_PATH
"""

import os
import sys

from sqlalchemy import Column, ForeignKey, Integer, String, create_engine
from sqlalchemy.orm import Session, declarative_base, relationship

Base = declarative_base()


class Source(Base):
    __tablename__ = "sources"
    id = Column(Integer, primary_key=True)
    filesystem_id = Column(String(96), unique=True)


class Submission(Base):
    __tablename__ = "submissions"
    id = Column(Integer, primary_key=True)
    source_id = Column(Integer, ForeignKey("sources.id"))
    filename = Column(String(255), nullable=False)
    size = Column(Integer, nullable=False)
    source = relationship(Source)


class Reply(Base):
    __tablename__ = "replies"
    id = Column(Integer, primary_key=True)
    source_id = Column(Integer, ForeignKey("sources.id"))
    filename = Column(String(255), nullable=False)
    size = Column(Integer, nullable=False)
    source = relationship(Source)


def main(store, db_path):
    engine = create_engine(f"sqlite:///file:{db_path}?mode=ro&uri=true")
    with Session(engine) as session:
        rows = (session.query(Submission).order_by(Submission.id, Submission.filename).all()
                + session.query(Reply).order_by(Reply.id, Reply.filename).all())
    files_in_fs = {}
    for directory, _subdirs, files in os.walk(store):
        for f in files:
            files_in_fs[f] = os.path.abspath(os.path.join(directory, f))
    files_in_db = {r.filename: True for r in rows}
    disconnected_db = [r for r in rows if r.filename not in files_in_fs]
    disconnected_fs = [(p, os.stat(p).st_size) for f, p in files_in_fs.items() if f not in files_in_db]
    print(f"{len(disconnected_db)} rows without files, {len(disconnected_fs)} files without rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
