/** Run on import: hands this page's URL (the authorization response) to the window that opened the popup, then closes the popup. Exported for pages that want to call it again. */
export declare function completePopup(): void;
