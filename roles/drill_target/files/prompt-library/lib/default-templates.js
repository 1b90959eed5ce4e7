'use strict';

// The five built-in templates. Seeding and POST /api/admin/templates/reset-defaults
// both write these rows with is_default = true.
module.exports = [
  {
    name: 'summarize-text',
    category: 'writing',
    body: 'Summarize the following text in {{sentence_count}} sentences for {{audience}}:\n\n{{text}}',
  },
  {
    name: 'translate-text',
    category: 'language',
    body: 'Translate the following text from {{source_language}} to {{target_language}}. Keep the tone.\n\n{{text}}',
  },
  {
    name: 'code-review',
    category: 'engineering',
    body: 'Review this {{language}} code for bugs, security problems and readability. List each finding with its line.\n\n{{code}}',
  },
  {
    name: 'email-reply',
    category: 'communication',
    body: 'Write a {{tone}} reply to the email below. Answer every question it asks.\n\n{{email}}',
  },
  {
    name: 'meeting-notes',
    category: 'general',
    body: 'Turn this meeting transcript into notes with decisions, action items and owners:\n\n{{transcript}}',
  },
];
