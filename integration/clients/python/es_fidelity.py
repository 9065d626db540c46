"""Checks Waybill's Elasticsearch TEST server (integration/testserver/elastic) with an
independent client: Debian's python3-elasticsearch (7.17 in Debian 12, which talks to
8.x servers after its product check). Usage: es_fidelity.py http://127.0.0.1:PORT
Exits non-zero with a message naming the first check that failed."""

import sys

import elasticsearch
from elasticsearch import Elasticsearch, helpers


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(status, err_type, fn):
    try:
        fn()
    except elasticsearch.TransportError as e:
        got_type = e.info.get("error", {}).get("type") if isinstance(e.info, dict) else None
        check(e.status_code == status, f"want HTTP {status}, got {e.status_code}: {e.info}")
        check(got_type == err_type, f"want error type {err_type}, got {got_type}: {e.info}")
        return e
    raise AssertionError(f"want HTTP {status} {err_type}, got success")


def main(url):
    es = Elasticsearch([url])
    info = es.info()
    check(info["version"]["number"].startswith("8."), f"version {info['version']}")
    check(info["tagline"] == "You Know, for Search", "tagline")

    es.indices.create(index="fid", mappings={"properties": {
        "n": {"type": "long"}, "name": {"type": "keyword"}, "when": {"type": "date"}, "text": {"type": "text"}}})
    check(es.indices.exists(index="fid"), "index exists after create")
    check(not es.indices.exists(index="nope"), "missing index does not exist")
    expect_error(400, "resource_already_exists_exception", lambda: es.indices.create(index="fid"))
    expect_error(400, "invalid_index_name_exception", lambda: es.indices.create(index="Bad"))

    r = es.index(index="fid", id="1", document={"n": 1, "name": "a", "when": "2024-03-01T09:00:00.123456Z", "text": "Quick brown fox"})
    check(r["result"] == "created" and r["_version"] == 1, f"first index: {r}")
    r = es.index(index="fid", id="1", document={"n": 2, "name": "a", "when": "2024-03-01T09:00:00Z", "text": "Quick brown fox"})
    check(r["result"] == "updated" and r["_version"] == 2, f"second index: {r}")
    expect_error(409, "version_conflict_engine_exception",
                 lambda: es.index(index="fid", id="1", document={"n": 3}, op_type="create"))
    expect_error(400, "mapper_parsing_exception", lambda: es.index(index="fid", id="bad", document={"n": "abc"}))

    # External versions: strictly greater wins, equal or older is a conflict.
    r = es.index(index="ext", id="k", document={"v": 5}, version=5, version_type="external")
    check(r["_version"] == 5 and r["result"] == "created", f"external create: {r}")
    expect_error(409, "version_conflict_engine_exception",
                 lambda: es.index(index="ext", id="k", document={"v": 3}, version=3, version_type="external"))
    expect_error(409, "version_conflict_engine_exception",
                 lambda: es.index(index="ext", id="k", document={"v": 5}, version=5, version_type="external"))
    r = es.index(index="ext", id="k", document={"v": 7}, version=7, version_type="external")
    check(r["_version"] == 7, f"external newer: {r}")
    check(es.get(index="ext", id="k")["_source"] == {"v": 7}, "external newer stored")

    # Bulk with per-item outcomes.
    ok, errors = helpers.bulk(es, [
        {"_op_type": "index", "_index": "fid", "_id": "2", "_source": {"n": 20, "name": "b", "text": "lazy dog"}},
        {"_op_type": "create", "_index": "fid", "_id": "1", "_source": {"n": 99}},
        {"_op_type": "index", "_index": "fid", "_id": "3", "_source": {"n": "not a number"}},
        {"_op_type": "delete", "_index": "fid", "_id": "missing"},
        {"_op_type": "update", "_index": "fid", "_id": "2", "doc": {"name": "b2"}},
        {"_op_type": "index", "_index": "ext", "_id": "k", "_source": {"v": 6}, "version": 6, "version_type": "external"},
    ], raise_on_error=False, refresh=False)
    check(ok == 2, f"bulk successes: {ok}, errors {errors}")
    by = {}
    for e in errors:
        (op, item), = e.items()
        by[(op, item["_id"])] = item
    check(by[("create", "1")]["status"] == 409 and by[("create", "1")]["error"]["type"] == "version_conflict_engine_exception", f"create conflict: {by}")
    check(by[("index", "3")]["status"] == 400 and by[("index", "3")]["error"]["type"] == "mapper_parsing_exception", f"mapping error: {by}")
    check(by[("delete", "missing")]["status"] == 404 and by[("delete", "missing")]["result"] == "not_found", f"delete missing: {by}")
    check(by[("index", "k")]["status"] == 409, f"older external version in bulk: {by}")

    # Search sees documents only after a refresh; get is realtime.
    check(es.count(index="fid")["count"] == 0, "documents visible before refresh")
    check(es.get(index="fid", id="2")["_source"]["name"] == "b2", "realtime get after update")
    es.indices.refresh(index="fid")
    check(es.count(index="fid")["count"] == 2, f"count after refresh: {es.count(index='fid')}")
    r = es.search(index="fid", query={"term": {"name": "a"}})
    check(r["hits"]["total"]["value"] == 1 and r["hits"]["hits"][0]["_id"] == "1", f"term search: {r}")
    r = es.search(index="fid", query={"match": {"text": "QUICK"}})
    check([h["_id"] for h in r["hits"]["hits"]] == ["1"], f"match search: {r}")
    r = es.search(index="fid", query={"ids": {"values": ["2", "x"]}})
    check([h["_id"] for h in r["hits"]["hits"]] == ["2"], f"ids search: {r}")
    r = es.search(index="fid", query={"match_all": {}}, sort=[{"n": "desc"}], size=1)
    check(r["hits"]["total"]["value"] == 2 and r["hits"]["hits"][0]["_id"] == "2", f"sorted search: {r}")
    r = es.search(index="fid", query={"range": {"n": {"gte": 2, "lt": 3}}})
    check([h["_id"] for h in r["hits"]["hits"]] == ["1"], f"range search: {r}")
    r = es.search(index="fid", body={"query": {"match_all": {}}, "sort": [{"n": "asc"}], "size": 1, "_source": ["name"]})
    check(r["hits"]["hits"][0]["_source"] == {"name": "a"}, f"_source includes: {r}")
    after = r["hits"]["hits"][0]["sort"]
    r = es.search(index="fid", query={"match_all": {}}, sort=[{"n": "asc"}], size=1, search_after=after)
    check([h["_id"] for h in r["hits"]["hits"]] == ["2"], f"search_after page: {r}")
    r = es.search(index="fid", query={"match_all": {}}, sort=[{"n": "asc"}], size=5, search_after=r["hits"]["hits"][0]["sort"])
    check(r["hits"]["hits"] == [], f"search_after past the end: {r}")
    r = es.index(index="fid", id="4", document={"n": 4}, refresh="wait_for")
    check(es.count(index="fid", q="n:4")["count"] == 1, "refresh=wait_for makes it searchable")

    g = es.get(index="fid", id="1")
    check(g["found"] and g["_version"] == 2 and g["_source"]["n"] == 2, f"get: {g}")
    try:
        es.get(index="fid", id="nope")
        raise AssertionError("get of a missing document succeeded")
    except elasticsearch.NotFoundError as e:
        check(e.info.get("found") is False, f"missing get body: {e.info}")
    expect_error(404, "index_not_found_exception", lambda: es.get(index="nope", id="1"))
    es.indices.delete(index="fid")
    check(not es.indices.exists(index="fid"), "index deleted")
    print("es_fidelity: OK (python elasticsearch client %s)" % ".".join(map(str, elasticsearch.__version__)))


if __name__ == "__main__":
    main(sys.argv[1])
