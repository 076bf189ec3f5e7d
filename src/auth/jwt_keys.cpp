#include "auth/jwt_keys.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace herald::auth {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// The `kid: NAME` line closest above a block, within the text since the previous block.
std::string kidBefore(std::string_view between) {
  std::string kid;
  std::size_t pos = 0;
  while (pos < between.size()) {
    auto end = between.find('\n', pos);
    if (end == std::string_view::npos) end = between.size();
    auto line = trim(between.substr(pos, end - pos));
    if (!line.empty() && line.front() == '#') line = trim(std::string_view(line).substr(1));
    if (line.rfind("kid:", 0) == 0) kid = trim(std::string_view(line).substr(4));
    pos = end + 1;
  }
  return kid;
}

EVP_PKEY* readBlock(std::string_view block, bool certificate) {
  BIO* bio = BIO_new_mem_buf(block.data(), static_cast<int>(block.size()));
  if (!bio) return nullptr;
  EVP_PKEY* key = nullptr;
  if (certificate) {
    if (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      key = X509_get_pubkey(cert);
      X509_free(cert);
    }
  } else {
    key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  }
  BIO_free(bio);
  return key;
}

JwtAlgorithm algorithmOf(EVP_PKEY* key, const std::string& where) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < 2048) {
        throw std::invalid_argument(where + ": RSA keys must have at least 2048 bits");
      }
      return JwtAlgorithm::RS256;
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t len = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) != 1 ||
          std::string_view(group, len) != "prime256v1") {
        throw std::invalid_argument(where + ": EC keys must be on P-256 (ES256)");
      }
      return JwtAlgorithm::ES256;
    }
    default:
      throw std::invalid_argument(where +
                                  ": only RSA (RS256) and P-256 (ES256) keys are supported");
  }
}

}  // namespace

std::string_view toString(JwtAlgorithm algorithm) {
  switch (algorithm) {
    case JwtAlgorithm::HS256: return "HS256";
    case JwtAlgorithm::RS256: return "RS256";
    case JwtAlgorithm::ES256: return "ES256";
  }
  return "?";
}

void JwtKeySet::addSecret(std::string secret) {
  if (secret.size() < 32) {
    throw std::invalid_argument("Jwt:Secret must be at least 32 bytes (256 bits) for HS256");
  }
  JwtKey key;
  key.algorithm = JwtAlgorithm::HS256;
  key.secret = std::move(secret);
  keys_.push_back(std::move(key));
}

void JwtKeySet::addPem(std::string_view pem, const std::string& source) {
  std::size_t searchFrom = 0;
  std::size_t previousEnd = 0;
  int found = 0;
  for (;;) {
    const auto begin = pem.find("-----BEGIN ", searchFrom);
    if (begin == std::string_view::npos) break;
    const auto labelEnd = pem.find("-----", begin + 11);
    if (labelEnd == std::string_view::npos) break;
    const auto label = pem.substr(begin + 11, labelEnd - begin - 11);
    const auto endMarker = "-----END " + std::string(label) + "-----";
    const auto end = pem.find(endMarker, labelEnd);
    const auto where = source + " (key " + std::to_string(found + 1) + ")";
    if (end == std::string_view::npos)
      throw std::invalid_argument(where + ": unterminated PEM block");
    const auto blockEnd = end + endMarker.size();
    const bool certificate = label == "CERTIFICATE";
    if (label != "PUBLIC KEY" && !certificate) {
      throw std::invalid_argument(where + ": expected PUBLIC KEY or CERTIFICATE, got " +
                                  std::string(label));
    }
    EVP_PKEY* raw = readBlock(pem.substr(begin, blockEnd - begin), certificate);
    if (!raw) throw std::invalid_argument(where + ": OpenSSL cannot read this PEM block");
    std::shared_ptr<void> owned(raw, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
    JwtKey key;
    key.algorithm = algorithmOf(raw, where);
    key.kid = kidBefore(pem.substr(previousEnd, begin - previousEnd));
    key.publicKey = std::move(owned);
    keys_.push_back(std::move(key));
    ++found;
    previousEnd = blockEnd;
    searchFrom = blockEnd;
  }
  if (found == 0) throw std::invalid_argument(source + ": no PEM public key found");
}

void JwtKeySet::addPemFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("Jwt:PublicKeyFile: cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  addPem(text.str(), "Jwt:PublicKeyFile " + path);
}

}  // namespace herald::auth
