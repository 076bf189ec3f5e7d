#include "jwt_test_keys.h"

#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/base64url.h"

namespace herald::auth::testing {

namespace {

PkeyPtr wrap(EVP_PKEY* k) {
  if (!k) throw std::runtime_error("key generation failed");
  return PkeyPtr(k, EVP_PKEY_free);
}

std::string digestSign(const PkeyPtr& key, const std::string& input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1) {
    throw std::runtime_error("sign init");
  }
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     input.size()) != 1) {
    throw std::runtime_error("sign");
  }
  sig.resize(len);
  return sig;
}

}  // namespace

PkeyPtr generateRsa(int bits) {
  return wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
}

PkeyPtr generateEc(const char* curve) {
  return wrap(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

std::string publicPem(const PkeyPtr& key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string hs256(const std::string& secret, const std::string& input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string rs256(const PkeyPtr& key, const std::string& input) { return digestSign(key, input); }

std::string es256(const PkeyPtr& key, const std::string& input) {
  auto der = digestSign(key, input);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

std::string signingInput(const std::string& headerJson, const std::string& payloadJson) {
  return encodeBase64Url(headerJson) + "." + encodeBase64Url(payloadJson);
}

std::string token(const std::string& input, const std::string& signature) {
  return input + "." + encodeBase64Url(signature);
}

}  // namespace herald::auth::testing
