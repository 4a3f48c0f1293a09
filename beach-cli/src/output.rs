//! Human output: aligned tables, with a bold header only on a terminal.

use std::io::IsTerminal;

use crate::outcome::{Failure, Output};

/// Prints a command's result (JSON with `json`, text otherwise; errors as one line on stderr)
/// and returns its exit code.
pub fn report(result: Result<Output, Failure>, json: bool) -> u8 {
    match result {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else {
                print!("{}", out.human);
            }
            0
        }
        Err(f) => {
            if let (true, Some(j)) = (json, &f.json) {
                println!("{j}");
            }
            eprintln!("error: {}", f.message);
            f.code
        }
    }
}

/// The rows under the headers, each column as wide as its widest cell.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return "(none)\n".to_owned();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let header = line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    let mut out = if std::io::stdout().is_terminal() {
        format!("\x1b[1m{}\x1b[0m\n", header.trim_end())
    } else {
        header
    };
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn columns_line_up() {
        let t = table(
            &["A", "LONGER"],
            vec![vec!["xyz".into(), "1".into()], vec!["q".into(), "22".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1].find('1'), lines[2].find("22"));
        assert_eq!(table(&["A"], vec![]), "(none)\n");
    }
}
