<?php
// The php-fpm reference for the 10 MiB download row.
header('Content-Type: application/octet-stream');
echo str_repeat('x', 10 * 1024 * 1024);
