<?php
// berth's adminer look-alike: Debian's adminer (/usr/share/adminer), served
// from here by `php -S` as the official image serves it.
//
// ADMINER_DEFAULT_SERVER (default "db") fills the login form's server field.
// ADMINER_PLUGINS lists plugins without constructor arguments to load, by
// file name under /usr/share/adminer/plugins (e.g. "tables-filter dump-json").
// Checking adminer.org for new versions is off (no traffic leaves the host).

const BERTH_ADMINER_DIR = '/usr/share/adminer';

class BerthDefaultServer {
	function loginFormField($name, $heading, $value) {
		if ($name != 'server') {
			return null;
		}
		$server = getenv('ADMINER_DEFAULT_SERVER');
		if ($server === false || $server === '') {
			$server = 'db';
		}
		return $heading . str_replace('value=""', 'value="' . htmlspecialchars($server) . '"', $value);
	}
}

function adminer_object() {
	include_once BERTH_ADMINER_DIR . '/plugins/plugin.php';
	include_once BERTH_ADMINER_DIR . '/plugins/version-noverify.php';
	$plugins = [new AdminerVersionNoverify(), new BerthDefaultServer()];
	$names = preg_split('/\s+/', trim((string) getenv('ADMINER_PLUGINS')), -1, PREG_SPLIT_NO_EMPTY);
	foreach ($names as $name) {
		$file = BERTH_ADMINER_DIR . '/plugins/' . basename($name) . '.php';
		if (!is_file($file)) {
			error_log("ADMINER_PLUGINS: no plugin $name ($file)");
			continue;
		}
		include_once $file;
		$class = 'Adminer' . str_replace('-', '', ucwords($name, '-'));
		try {
			$plugins[] = new $class();
		} catch (ArgumentCountError $e) {
			error_log("ADMINER_PLUGINS: plugin $name needs arguments; load it from a file in /var/www/html/plugins-enabled instead");
		}
	}
	foreach (glob(__DIR__ . '/plugins-enabled/*.php') ?: [] as $file) {
		$plugins[] = include $file;
	}
	return new AdminerPlugin($plugins);
}

include BERTH_ADMINER_DIR . '/adminer.php';
