// Turning connection, TLS and gRPC failures into errors that name the certificate or endpoint to fix.
import { expect } from "chai";

import { classifyTlsFailure, grpcTarget, translateError } from "../../../../operator/snapshot/etcd-client.ts";
import {
  EtcdCertificateFileError,
  EtcdRequestError,
  EtcdTlsError,
  EtcdUnavailableError,
} from "../../../../operator/snapshot/errors.ts";
import { GrpcDeadlineError, GrpcStatusError } from "../../../../operator/snapshot/grpc.ts";

const OPTIONS = {
  endpoint: "https://127.0.0.1:2379",
  caCertPath: "/pki/etcd/ca.crt",
  certPath: "/pki/etcd/client.crt",
  keyPath: "/pki/etcd/client.key",
};

/** A Node error as tls and net raise them: a message and a code. */
function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

// The errors Node 24 raised against a real etcd 3.6.8 (the integration test checks them live).
const UNTRUSTED_SERVER = nodeError(
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "unable to verify the first certificate; if the root CA is installed locally, try running Node.js with --use-system-ca",
);
const REJECTED_CLIENT = nodeError(
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "406DA316567F0000:error:0A000418:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:918:SSL alert number 48\n",
);

describe("classifyTlsFailure", () => {
  it("blames our CA file for a server certificate it cannot verify or that names another host", () => {
    for (const code of [
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "CERT_HAS_EXPIRED",
      "ERR_TLS_CERT_ALTNAME_INVALID",
    ]) {
      expect(classifyTlsFailure(code), code).to.equal("server");
    }
  });

  it("blames our client certificate when etcd answers with a certificate alert", () => {
    for (const code of [
      "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
      "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
      "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
      "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
    ]) {
      expect(classifyTlsFailure(code), code).to.equal("client");
    }
  });

  it("does not call a refused or reset connection a TLS problem", () => {
    expect(classifyTlsFailure("ECONNREFUSED")).to.equal(undefined);
    expect(classifyTlsFailure("ECONNRESET")).to.equal(undefined);
    expect(classifyTlsFailure(undefined)).to.equal(undefined);
  });
});

describe("translateError", () => {
  it("names --cacert and the endpoint for an untrusted server certificate, without Node's hint", () => {
    const error = translateError(OPTIONS, "Maintenance.Status", UNTRUSTED_SERVER);
    expect(error).to.be.instanceOf(EtcdTlsError);
    expect((error as EtcdTlsError).side).to.equal("server");
    expect(error.message).to.include("--cacert /pki/etcd/ca.crt");
    expect(error.message).to.include("https://127.0.0.1:2379");
    expect(error.message).to.include("(unable to verify the first certificate)");
  });

  it("names --cert for a rejected client certificate, with OpenSSL's reason only", () => {
    const error = translateError(OPTIONS, "Maintenance.Status", REJECTED_CLIENT);
    expect(error).to.be.instanceOf(EtcdTlsError);
    expect((error as EtcdTlsError).side).to.equal("client");
    expect(error.message).to.include("--cert /pki/etcd/client.crt");
    expect(error.message).to.include("(tlsv1 alert unknown ca)");
  });

  it("names --key when the key does not belong to the certificate", () => {
    const error = translateError(
      OPTIONS,
      "Maintenance.Status",
      nodeError(
        "ERR_OSSL_X509_KEY_VALUES_MISMATCH",
        "error:05800074:x509 certificate routines::key values mismatch",
      ),
    );
    expect(error).to.be.instanceOf(EtcdCertificateFileError);
    expect(error.message).to.equal(
      "--key /pki/etcd/client.key: is not the key of --cert /pki/etcd/client.crt",
    );
  });

  it("says unavailable for a refused connection, UNAVAILABLE, or a timeout", () => {
    const refused = translateError(
      OPTIONS,
      "x",
      nodeError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:2379"),
    );
    expect(refused).to.be.instanceOf(EtcdUnavailableError);
    expect(refused.message).to.include("ECONNREFUSED");
    expect(translateError(OPTIONS, "x", new GrpcStatusError(14, "not leader"))).to.be.instanceOf(
      EtcdUnavailableError,
    );
    const timeout = translateError(OPTIONS, "KV.Range", new GrpcDeadlineError("/etcdserverpb.KV/Range", 10));
    expect(timeout).to.be.instanceOf(EtcdUnavailableError);
    expect(timeout.message).to.include("KV.Range timed out");
  });

  it("keeps other statuses as request errors with the code name", () => {
    const error = translateError(
      OPTIONS,
      "KV.Range",
      new GrpcStatusError(11, "etcdserver: mvcc: required revision has been compacted"),
    );
    expect(error).to.be.instanceOf(EtcdRequestError);
    expect((error as EtcdRequestError).code).to.equal("OUT_OF_RANGE");
    expect(error.message).to.include("KV.Range failed: OUT_OF_RANGE");
  });

  it("passes through errors it cannot classify", () => {
    const plain = new Error("boom");
    expect(translateError(OPTIONS, "x", plain)).to.equal(plain);
  });
});

describe("grpcTarget", () => {
  it("takes host and port from an https URL, 2379 by default", () => {
    expect(grpcTarget("https://127.0.0.1:12379")).to.equal("127.0.0.1:12379");
    expect(grpcTarget("https://etcd.local")).to.equal("etcd.local:2379");
  });

  it("refuses plain http and non-URLs, naming --endpoint", () => {
    expect(() => grpcTarget("http://127.0.0.1:2379")).to.throw(
      EtcdCertificateFileError,
      /--endpoint .*https/,
    );
    expect(() => grpcTarget("127.0.0.1:2379")).to.throw(EtcdCertificateFileError, /--endpoint/);
  });
});
