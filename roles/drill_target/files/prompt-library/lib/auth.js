'use strict';

const crypto = require('crypto');

// Return the token from an "Authorization: Bearer <token>" header, or null.
function extractBearerToken(header) {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header || '');
  return match ? match[1] : null;
}

// Compare two tokens in constant time. Both sides are hashed first, because
// crypto.timingSafeEqual needs equal lengths and comparing lengths would leak them.
function tokensMatch(presented, expected) {
  const presentedDigest = crypto.createHash('sha256').update(presented).digest();
  const expectedDigest = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(presentedDigest, expectedDigest);
}

module.exports = { extractBearerToken, tokensMatch };
